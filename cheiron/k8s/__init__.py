"""The only code that talks to the Kubernetes API server (the official client, synchronous).

Callers in async code run these functions in a thread (asyncio.to_thread).
"""
