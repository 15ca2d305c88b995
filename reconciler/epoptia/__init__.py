"""Everything that speaks to Epoptia: the wire profile, the client, the payload mapping."""
