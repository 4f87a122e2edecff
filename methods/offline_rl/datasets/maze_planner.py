"""Scripted planner-controller for PointMaze, the analogue of D4RL's maze2d data collection (arXiv 2004.07219).

maze2d's data came from a planner that produced waypoints towards a goal and a PD controller that followed them.
Here: breadth-first search over the maze grid from the goal cell (a distance map, cached per goal cell), the next
waypoint is the centre of the neighbouring cell one step closer to the goal (the goal itself once in its cell), and
the force is ``kp * (waypoint - position) - kd * velocity``, plus optional Gaussian noise, clipped to [-1, 1].
"""

from __future__ import annotations

from collections import deque

import numpy as np

KP, KD = 10.0, 1.0  # D4RL's waypoint controller gains (p_gain 10, d_gain -1)


class MazePlanner:
    """BFS-waypoint + PD controller for a gymnasium-robotics PointMaze environment."""

    def __init__(self, env, action_noise: float = 0.0) -> None:
        self.maze = env.unwrapped.maze
        self.grid = np.array([[cell != 1 for cell in row] for row in self.maze.maze_map], dtype=bool)
        self.action_noise = action_noise
        self._distances: dict[tuple[int, int], np.ndarray] = {}

    def _distance_map(self, goal: tuple[int, int]) -> np.ndarray:
        if goal not in self._distances:
            dist = np.full(self.grid.shape, np.iinfo(np.int32).max, dtype=np.int64)
            dist[goal] = 0
            queue = deque([goal])
            while queue:
                r, c = queue.popleft()
                for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    nr, nc = r + dr, c + dc
                    if self.grid[nr, nc] and dist[nr, nc] > dist[r, c] + 1:
                        dist[nr, nc] = dist[r, c] + 1
                        queue.append((nr, nc))
            self._distances[goal] = dist
        return self._distances[goal]

    def waypoint(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        cell = tuple(int(v) for v in self.maze.cell_xy_to_rowcol(position))
        goal_cell = tuple(int(v) for v in self.maze.cell_xy_to_rowcol(goal))
        if cell == goal_cell:
            return np.asarray(goal, dtype=np.float64)
        dist = self._distance_map(goal_cell)
        r, c = cell
        best = min(((r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                    if self.grid[r + dr, c + dc]), key=lambda rc: dist[rc])
        return np.asarray(self.maze.cell_rowcol_to_xy(np.array(best)), dtype=np.float64)

    def __call__(self, obs: dict, rng: np.random.Generator) -> np.ndarray:
        state = obs["observation"]
        position, velocity = state[:2], state[2:4]
        action = KP * (self.waypoint(position, obs["desired_goal"]) - position) - KD * velocity
        if self.action_noise > 0:
            action = action + self.action_noise * rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
