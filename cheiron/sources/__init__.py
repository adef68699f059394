"""The only code that talks to AWS or to container registries."""
