"""The attribute names the agent side writes, as defined in ``telemetron_semconv`` (where oracle_api reads them)."""

from telemetron_semconv import *  # noqa: F403 - every public name, PROPOSED_NAMES included
