"""The legacy campaigns REST API (not yet served: see issue 11, part 1.5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
