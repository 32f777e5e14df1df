"""``python -m scopepilot convert FILE...``: vendor image files to TIFFs ScopePilot reads."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "convert":
        print("usage: python -m scopepilot convert FILE... [--out DIR]", file=sys.stderr)
        return 2
    from .convert import main as convert

    return convert(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
