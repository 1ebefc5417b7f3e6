"""What each drill measured (jobs in flight, recovery seconds, requests, inputs, failures)."""

from dataclasses import dataclass, field


@dataclass
class Figures:
    """Drill name → figure name → value, in the order they were recorded."""

    drills: dict[str, dict[str, float | int | str]] = field(default_factory=dict)

    def record(self, drill: str, name: str, value: float | int | str) -> None:
        self.drills.setdefault(drill, {})[name] = value
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"[{drill}] {name}: {shown}")

    def lines(self) -> list[str]:
        out: list[str] = []
        for drill, values in self.drills.items():
            out.append(drill)
            for name, value in values.items():
                shown = f"{value:.2f}" if isinstance(value, float) else str(value)
                out.append(f"  {name}: {shown}")
        return out
