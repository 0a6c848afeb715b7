"""Exceptions kept, or dropped, without the request they were raised over.

An exception's traceback holds every frame it passed through, and each frame its locals: the client's
parsed request, the body translated for the provider, the encoded bytes sent. An exception stored in a
local of a frame on its own traceback (a failed attempt kept for the final error), or one that a library
keeps in a local beside its traceback, makes a reference cycle: all of that stays alive until the
garbage collector's next full pass, which under load may be many requests away.
"""

from __future__ import annotations


def release_frames(exc: BaseException) -> None:
    """Drop the tracebacks of `exc` and of the exceptions it was raised from or during: their frames go
    when nothing else holds them. (Clearing the frames instead would also finalise any coroutine still
    suspended in one of them.)"""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]
