"""The command-line programs. Each module has `main(argv=None) -> exit status`; setup.cfg installs
them as console scripts and `apps/*.py` are thin scripts that call them."""
