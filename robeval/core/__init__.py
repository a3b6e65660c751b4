"""Layer 0, core: errors, the registry type, the environment record and atomic file I/O.

Imports nothing from robeval outside ``robeval.core``; every other layer may import it.
"""
