"""``python -m vit_lessons.grading check NAME [--submission DIR] [--timeout S]``: the learner's self-check."""

import sys

from .grader import SettingsParser, setting, why_not_timeout
from .registry import EXERCISES
from .selfcheck import check


def main(argv=None) -> int:
    parser = SettingsParser(prog="python -m vit_lessons.grading")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="run the public tests of one exercise")
    c.add_argument("name", choices=list(EXERCISES))
    c.add_argument("--submission", default=None, help="folder with exNN_*.py (default: exercises/)")
    c.add_argument("--timeout", type=setting("--timeout", float, why_not_timeout), default=60.0,
                   help="the grader's time limit for the exercise, in seconds (the self-check takes its share)")
    args = parser.parse_args(argv)
    return 0 if check(args.name, args.submission, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
