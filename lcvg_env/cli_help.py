"""How ``lcvg ... --help`` shows parameters: flags as flags, values as click's metavars, plain text.

typer 0.2x labels every parameter with its Python annotation (``<bool>`` on ``--help`` and on every
flag, ``<int>``, ``<str>``, ``<path>``, arguments as ``{checkpoint}``). :func:`plain_help` restores the
convention of click and of most command lines (docs/cli.md): a flag has no value label, an option
shows ``INTEGER``, ``TEXT``, ``PATH``, ``FLOAT`` or its choices, an argument is ``CHECKPOINT``. Help
and usage errors print as click prints them, as plain text: typer's rich panels import and lay out
rich for every ``--help``, a third of the 0.4 s CPU ``lcvg --help`` took (docs/cli.md, "Start-up").

It changes how typer's parameter classes render help, for the whole process, so every entry point
(``lcvg``, ``python -m training``) calls it once before building its app. Older typer versions that
render help as click does have none of these methods; then nothing is changed. No torch here.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"int": "INTEGER", "str": "TEXT", "float": "FLOAT", "bool": "BOOLEAN", "path": "PATH"}


def _value_label(param: Any, ctx: Any) -> str | None:
    """click's metavar for an option that takes a value (``INTEGER``, ``[a|b]``); None for flags."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar is not None:
        return param.metavar
    label = param.display_type(ctx).strip("<>")  # typer's own label: int, str, list[str], a|b
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]  # a repeatable option: one value per use
    label = f"[{label}]" if "|" in label else _NAMES.get(label, label.upper())
    return f"{label}..." if param.nargs != 1 else label


def _argument_name(param: Any) -> str:
    return param.metavar if param.metavar is not None else param.name.upper()


def _usage_name(param: Any) -> str:
    name = _argument_name(param) if param.required else f"[{_argument_name(param)}]"
    return f"{name}..." if param.nargs != 1 else name


def plain_help() -> None:
    """Render typer help the click way (module docstring); idempotent, a no-op on older typer."""
    from typer import core

    argument, option = core.TyperArgument, core.TyperOption
    if getattr(core, "_lcvg_plain_help", False) or not hasattr(option, "display_type_rich"):
        return
    core.HAS_RICH = False  # typer reads it at each help and error: click's plain formatting
    option.display_type_rich = _value_label
    argument.display_type_rich = lambda self, ctx: None  # the name says it: CHECKPOINT, DATA_DIR
    if isinstance(getattr(argument, "display_name_raw", None), property):
        argument.display_name_raw = property(_argument_name)
    if hasattr(argument, "_usage_display_name"):
        argument._usage_display_name = _usage_name
        # a hidden argument (an old spelling) stays out of the usage line
        argument.get_usage_pieces = lambda self, ctx: [] if self.hidden else [self._usage_display_name()]
    core._lcvg_plain_help = True
