"""Time, read from one place, and the length of the hours in `max_duration`."""
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    hour_seconds: float = 3600.0

    def now(self) -> float:
        return time.time()

    def hours(self, n: float) -> float:
        """Seconds in `n` of the job's hours."""
        return n * self.hour_seconds

    def whole_minutes(self, seconds: float) -> int:
        """`run_time`: whole minutes, a minute being a sixtieth of one such hour."""
        return int(max(seconds, 0.0) * 60 // self.hour_seconds)
