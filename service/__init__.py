"""The gateway: HTTP image translation over the model repository. Never imports torch."""
