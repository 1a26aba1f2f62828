"""Errors raised by optim_core.

    ValueError
    └── ConfigError   a request names an unknown thing or a value outside its rule

Every ConfigError names the field (a dotted path such as ``betas[0]`` or ``schedule.T_max``)
and the rule it broke, so the service can hand it to the user unchanged.
"""


class ConfigError(ValueError):
    """A configuration value broke a rule; ``field`` names it and ``rule`` says the rule."""

    def __init__(self, field: str, rule: str):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def within(self, prefix: str) -> "ConfigError":
        """The same error with its field placed under ``prefix`` (``optimizer`` + ``lr``)."""
        return ConfigError(f"{prefix}.{self.field}" if prefix else self.field, self.rule)
