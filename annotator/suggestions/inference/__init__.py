"""Django-free model code: the interface every suggester implements, and its implementations.

torch is imported lazily inside the implementations, so the web process never loads it.
"""
