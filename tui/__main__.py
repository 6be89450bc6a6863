"""`python -m tui` is `torchtui`."""

from tui.entry import main

if __name__ == "__main__":
    main()
