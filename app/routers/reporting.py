"""Placeholder: filled in by the issue-7 work."""

from fastapi import APIRouter

router = APIRouter()
