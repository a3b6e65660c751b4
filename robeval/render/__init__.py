"""Layer 1 component, render: PNG plots (matplotlib) and documents (Markdown + one
self-contained HTML page) from plain arrays and blocks.

Imports only ``robeval.core``; knows nothing about runs, models or datasets.
"""
