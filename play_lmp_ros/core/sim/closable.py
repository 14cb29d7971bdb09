"""The with-block behaviour shared by every simulator backend."""


class ClosableSimulator:
    """Mixin: a simulator used in a with block is closed at its end; subclasses define close()."""

    def close(self) -> None:
        """Release the simulator; subclasses override this."""
        raise NotImplementedError

    def __enter__(self):
        """
        Enter a with block.

        :return: this simulator.
        """
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the simulator at the end of a with block."""
        self.close()
