"""The `league` command line (`cli.main`) and the game inspector behind `league inspect`."""
