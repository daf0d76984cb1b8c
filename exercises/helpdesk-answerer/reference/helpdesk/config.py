"""Every limit in one place. The reasoning behind each number is in NOTES.md."""

MODEL = "claude-haiku-5-5"

# Time. The contract allows 20 s per call; 16 s leaves room for process and scheduling jitter.
DEADLINE_S = 16.0
ATTEMPT_TIMEOUT_S = 5.0  # one attempt, headers and body together; after a timeout, all the time left
CONNECT_TIMEOUT_S = 2.0
MIN_ATTEMPT_S = 0.5  # not worth starting an attempt with less time than this
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 4.0
MAX_RESPONSE_BYTES = 256 * 1024

# Load: at most this many model calls in flight from this process; other callers queue.
MAX_CONCURRENT_CALLS = 4

# Input.
MAX_QUESTION_CHARS = 2_000

# Cost: retrieval sends at most this much article text (about 3,000 tokens) per request.
CONTEXT_BUDGET_CHARS = 12_000
CHUNK_CHARS = 1_200
MAX_CHUNKS = 8
MAX_TOKENS = 600  # the house-format reply is a few sentences of JSON
# The same question again within 10 minutes is answered from memory (answers and 'unknown' only).
ANSWER_CACHE_TTL_S = 600.0
ANSWER_CACHE_SIZE = 1_000

# Output.
MAX_ANSWER_CHARS = 2_000
MIN_QUOTE_WORDS = 4
