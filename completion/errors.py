"""The engine's named errors: each carries a one-line message that tells the user what to do."""


class TabwiseError(Exception):
    """Base of every error the engine raises on purpose."""


class ModelFileError(TabwiseError):
    """The model file is missing, truncated or not a GGUF."""


class ModelLoadError(TabwiseError):
    """llama.cpp could not load a file that looked like a GGUF."""


class RequestError(TabwiseError):
    """A request is malformed (bad position, oversized, unsupported by the model)."""


class Cancelled(TabwiseError):
    """The request was cancelled or superseded before it finished."""


class ProvisionError(TabwiseError):
    """Fetching or assembling the default model failed; nothing was installed."""


class BackendUnavailable(TabwiseError):
    """The inference server the user configured cannot be reached or fails; the message names its URL and
    the cause (never the API key)."""
