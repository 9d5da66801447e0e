"""Checks a Hydra command line before ``@hydra.main`` runs, so bad input fails with one line.

Left to Hydra, ``experiment=smok`` is silently ignored (``experiment`` is an *optional* group, so a
missing option just drops out) and the full default job runs; an unknown key or option prints a
multi-line block and exits 1, the code that ``train.py`` uses for "did not beat LRU". Here every
override is parsed, each group option and key is looked up, the config is composed with Hydra's
Compose API, and the caller's value check runs, all before Hydra creates a run folder. Any problem
is a ``ValueError`` with a one-line message naming the override and what is valid.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from omegaconf import DictConfig, OmegaConf

__all__ = ["check_command_line"]

CONFIG_MODULE = "heurist.configs"
# Flags after which Hydra runs nothing (help) or reads the configs from elsewhere: the command
# line is left to Hydra as it is.
_HANDS_OFF = {"-h", "--help", "--hydra-help", "--version", "-sc", "--shell-completion", "-cp",
              "--config-path", "-cn", "--config-name", "-cd", "--config-dir",
              "--experimental-rerun"}
# Flags that print the config instead of running (checked all the same: a typo is a typo there
# too), with the value each takes; and the flags of a run.
_WITH_VALUE = {"-c", "--cfg", "-p", "--package"}
_INFO = {"-i", "--info"}
_INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
_RUN_FLAGS = {"-m", "--multirun", "-r", "--run", "--resolve"}


def _split_args(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """``(overrides, multirun)``; ``None`` when a flag hands the command line to Hydra."""
    overrides, multirun = [], False
    args = list(argv)
    while args:
        arg = args.pop(0)
        flag = arg.split("=", 1)[0]
        if flag in _HANDS_OFF:
            return None
        if (arg in _WITH_VALUE and args) or (arg in _INFO and args and args[0] in _INFO_VALUES):
            args.pop(0)  # the flag's value, not an override
        elif arg in _RUN_FLAGS or arg in _INFO or flag in _WITH_VALUE | _INFO:
            multirun |= arg in ("-m", "--multirun")
        elif arg.startswith("-"):
            raise ValueError(f"unknown option {arg}; settings are Hydra overrides key=value "
                             f"(e.g. trainer.seed=1), see --help")
        else:
            overrides.append(arg)
    return overrides, multirun


def _parse(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed += parser.parse_overrides([text])
        except OverrideParseException:
            raise ValueError(f"cannot parse override {text!r}; expected key=value "
                             f"(e.g. trainer.seed=1 or experiment=smoke)") from None
    return parsed


def _values(override, multirun: bool) -> list[str] | None:
    """The values one override stands for (several for a sweep); ``None`` when they cannot be
    listed (an interval sweep: that is the sweeper's business)."""
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    if not multirun:
        raise ValueError(f"{override.input_line}: a sweep needs --multirun (-m)")
    if override.value_type.name in ("CHOICE_SWEEP", "SIMPLE_CHOICE_SWEEP", "RANGE_SWEEP"):
        return list(override.sweep_string_iterator())
    return None


def _check_group(override, options: list[str], values: list[str] | None) -> None:
    group = override.key_or_group
    if override.is_delete():
        raise ValueError(f"{override.input_line}: config groups cannot be removed")
    for value in values or ():
        if value not in options:
            raise ValueError(f"unknown {group} {value!r} in {override.input_line}; valid: "
                             f"{', '.join(options)}")


def _check_key(override, cfg: DictConfig) -> None:
    """The key exists (an added ``+key`` would be read by nothing: a typo as well)."""
    parent, _, leaf = override.key_or_group.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if isinstance(node, DictConfig) and leaf in list(node.keys()):  # `in node` misses ??? keys
        return
    if isinstance(node, DictConfig):
        where = f"under {parent}" if parent else "at the top level"
        valid = ", ".join(str(k) for k in node.keys())  # noqa: SIM118 - keys() lists ??? too
        raise ValueError(  # noqa: TRY004 - bad input: exit 2
            f"unknown key {leaf!r} {where} in {override.input_line}; valid: {valid}")
    raise ValueError(f"unknown key {override.key_or_group!r} in {override.input_line}")


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    from hydra import compose
    from hydra.errors import HydraException

    try:
        return compose(config_name, overrides=overrides)
    except HydraException as exc:  # anything the checks above did not foresee: its first line
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ValueError(first.strip()) from None


def check_command_line(config_name: str, argv: Sequence[str],
                       check: Callable[[DictConfig], None] | None = None) -> None:
    """Checks the Hydra command line ``argv`` (``sys.argv[1:]``) of the ``config_name`` job:
    syntax, group options, keys, composition and then ``check(cfg)`` on the composed config
    (for a sweep: once per listed value). Raises ``ValueError`` (or the check's
    ``FileNotFoundError``) with a one-line message; returns quietly when a Hydra flag such as
    ``--help`` takes over."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    split = _split_args(argv)
    if split is None:
        return
    texts, multirun = split
    parsed = _parse(texts)
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        groups = set(loader.list_groups(""))
        listed = [(o, _values(o, multirun)) for o in parsed]
        for override, values in listed:
            if override.key_or_group in groups:
                _check_group(override, loader.get_group_options(override.key_or_group), values)
        variants = _variants(listed)
        # Keys are looked up in the config with the group choices applied (first of each sweep).
        is_group = [o.key_or_group in groups for o, _ in listed if _composable(o, _)]
        base = _compose(config_name, [t for t, g in zip(variants[0], is_group) if g])
        for override, _ in listed:
            root = override.key_or_group.split(".")[0].split("/")[0]
            if root != "hydra" and override.key_or_group not in groups and not override.is_delete():
                _check_key(override, base)
        for variant in variants:
            cfg = _compose(config_name, variant)
            if check is not None:
                check(cfg)


def _composable(override, values) -> bool:
    """An interval sweep has no values to compose with: the sweeper draws them."""
    return not override.is_sweep_override() or values is not None


def _variants(listed) -> list[list[str]]:
    """Command lines to compose: every first value, then each further sweep value in turn."""
    listed = [(o, v) for o, v in listed if _composable(o, v)]

    def line(o, value):
        return o.input_line if not o.is_sweep_override() else f"{o.get_key_element()}={value}"

    firsts = [line(o, v[0]) for o, v in listed]
    out = [firsts]
    for i, (o, values) in enumerate(listed):
        if o.is_sweep_override():
            out += [firsts[:i] + [line(o, value)] + firsts[i + 1:] for value in values[1:]]
    return out
