import Inventory
import Hosts

/// Desired state (inventory) + observed state (host facts) → a plan of actions per host.
public enum Planner {}
