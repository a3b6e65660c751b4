"""``robeval browse``: a run's eval outputs as a grouped FiftyOne dataset, served in the App.

Nothing here imports fiftyone at module level: ``robeval --help`` stays fast, and FiftyOne's
settings (``fodb.configure``) are in place before it is first imported.

    fodb    settings, mongod checks, a private mongod (LocalMongo)
    images  condition images -> PNG files under the data root, written once
    build   eval outputs -> samples, groups, saved views; build_dataset()
    brain   mistakenness, hardness, embeddings map from stored logits and features
    app     serve() until Ctrl-C / SIGTERM, with nothing left running
"""
