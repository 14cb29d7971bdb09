"""What every command line of the package shares: a --help that shows each option's default."""

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """
    Show '(default: X)' after an option's help, unless the help already names its default.

    Descriptions and epilogs keep their line breaks (examples, tables).

    Left out where a default tells nothing: None (the option is off or optional), False (a
    flag) and argparse.SUPPRESS.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        """Return the help, with the default appended where it says something."""
        text = action.help or ''
        if ('default' in text or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f'{text} (default: %(default)s)'
        return text
