"""The Textual explorer: one model load, then every layer, head, view and sentence at a keystroke.

Only `attninspect explore` imports this package's app; `state` and `panels` need no Textual.
"""
