"""The ``kvmnet`` command line (virsh-style verbs); entry point :func:`kvmnet.cli.main.main`."""
