"""Model files: GGUF headers read safely, the model path resolved, the default model provisioned."""
