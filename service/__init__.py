"""The gateway: HTTP image translation over the model repository (issue 5). Never imports torch."""
