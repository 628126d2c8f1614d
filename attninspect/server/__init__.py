"""`attninspect serve`: one loaded model behind a live page, a JSON API and the command line.

An entry point above the Python API. Only `app` and `runner` import Starlette and uvicorn; the
command line's client (`client`) and the wire format (`wire`) import neither, nor torch.
"""
