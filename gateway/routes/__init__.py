"""The REST endpoints of docs/api.md, grouped by what they touch.

Invariants: every handler is ``async``, takes validated Structs (bodies and queries) and
answers a Struct from :mod:`api.wire` or :mod:`gateway.schemas`; every refusal is an
:class:`gateway.errors.ApiError` (or an error the handler lets Litestar raise), never a
bare response.
"""
