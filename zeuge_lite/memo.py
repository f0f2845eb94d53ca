"""A small in-process cache of computed results, shared by a server's threads. No Flask here."""
import threading
from collections import OrderedDict


class Memo:
    """Least-recently-used results by key; one computation per key at a time (others wait for it).

    Keys must name everything a result depends on (callers put version counters in them), so an entry is never
    stale, only unused; the oldest unused entries go when there are more than `size`."""

    def __init__(self, size=32):
        self.size = size
        self._entries = OrderedDict()
        self._computing = {}
        self._lock = threading.Lock()

    def get(self, key, compute):
        """The result for key: remembered, or computed now by compute() (once, however many threads ask)."""
        while True:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
                running = self._computing.get(key)
                if running is None:
                    self._computing[key] = threading.Event()
                    break
            running.wait()  # then look again: the other thread stored it, or failed and we compute
        try:
            value = compute()
            with self._lock:
                self._entries[key] = value
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def __len__(self):
        with self._lock:
            return len(self._entries)
