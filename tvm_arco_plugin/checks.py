"""Checks of a command's input made before any work starts: one line on stderr, exit status 2."""
import argparse
import os

SEED_RANGE = (0, 2 ** 32 - 1)  # what NumPy's and torch's seeding accept


class UsageError(Exception):
    """A problem with the user's input: reported in one line, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def check_seed(seed, flag="--seed"):
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise UsageError(f"{flag} must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}, got {seed}")


def check_writable(path, flag):
    """Fail now, not after the work, when ``path`` cannot be written (nothing is left behind)."""
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    existed = os.path.exists(path)
    try:
        with open(path, "ab"):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write there ({err.strerror})") from err
    if not existed:
        os.remove(path)


def parser_checks(parser, *checks):
    """Run ``checks`` (callables raising UsageError) and turn a failure into the parser's one-line error."""
    for check in checks:
        try:
            check()
        except UsageError as err:
            parser.error(str(err))
