"""`python -m attninspect` runs the command-line tool."""

from attninspect.entry import main

if __name__ == "__main__":
    main()
