"""The Graph API client: typed errors, retries, usage-aware pacing, batching."""

from dqwatch.graph._client import BATCH_LIMIT, BatchItem, ClientOptions, GraphClient
from dqwatch.graph._errors import Scrubber, error_from_answer
from dqwatch.graph._usage import UsageGovernor, parse_usage_headers

__all__ = [
    "BATCH_LIMIT",
    "BatchItem",
    "ClientOptions",
    "GraphClient",
    "Scrubber",
    "UsageGovernor",
    "error_from_answer",
    "parse_usage_headers",
]
