"""What a pydantic validation found wrong, on one line, each problem named by its field."""

from pydantic import ValidationError


def describe(error: ValidationError, whole: str = "(top level)") -> str:
    """`field.path: problem; ...`; problems of the object as a whole are named `whole` (or not at all, if empty)."""
    lines = []
    for problem in error.errors():
        where = ".".join(map(str, problem["loc"])) or whole
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)
