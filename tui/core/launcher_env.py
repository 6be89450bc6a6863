"""How a process of a distributed run knows the launcher that started it: the launcher's pid, in the environment
it hands its processes (launch.py sets it; the console's signals.follow_the_launcher reads it, before torch is
loaded, which is why this module imports nothing)."""

LAUNCHER_PID = "TORCHTUI_LAUNCHER_PID"
