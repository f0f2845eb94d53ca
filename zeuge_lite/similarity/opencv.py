"""OpenCV as every module here uses it: on one thread in every process (import cv2 from here)."""
import cv2

# The work is spread over processes (parallel.py). An OpenCV thread pool started in a process that later forks
# workers leaves them waiting, at their first OpenCV call, on threads a forked child does not have; and in a
# worker, OpenCV's own threads would only contend for the core it already has.
cv2.setNumThreads(1)

__all__ = ["cv2"]
