"""The relay: a machine's piece counts to Epoptia as sums, per workstation, never lost, never doubled.

Modules, each with one job:

- config    RelayConfig (`relay:` of a target): period, thresholds, spool, MQTT, workstation names
- events    lines and payloads -> CountEvent
- spool     SQLite WAL spool: pending sums, batches and their life, baselines, rejected lines
- policy    when a sum is due (pure)
- settle    whether an unanswered send arrived (pure): the crash-settlement rule
- sender    the Sender and WorkstationDirectory protocols, over EpoptiaClient
- relay     Intake (spool, then acknowledge) and Relay.tick (settle, baseline, send)
- sources   standard input and MQTT (aiomqtt), acknowledging after the spool commit
- runner    the long-running loop, signals, the final flush
- status    --status
- command   the click command `relay`
"""

from .config import Policy, RelayConfig
from .sender import (
    EpoptiaSender,
    MappingDirectory,
    SendAnswer,
    Sender,
    StepReading,
    WorkstationDirectory,
)

__all__ = [
    "EpoptiaSender",
    "MappingDirectory",
    "Policy",
    "RelayConfig",
    "SendAnswer",
    "Sender",
    "StepReading",
    "WorkstationDirectory",
]
