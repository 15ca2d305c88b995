"""A local Epoptia over real HTTP, with its own implementation of Epoptia's rules.

It must never import the reconciler's planner or policy: end-to-end tests are
only worth something if the emulator can disagree with the reconciler.
"""
