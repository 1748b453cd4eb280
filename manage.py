#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")
    if sys.argv[1:2] == ["quickstart"]:
        # The laptop demo runs in DEBUG (a development key, plain HTTP); nothing else starts without
        # a SECRET_KEY while DEBUG is off.
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
