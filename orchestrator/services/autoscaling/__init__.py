"""EC2 Auto Scaling: launch configurations, groups, their instances and scaling activities
(``groups``, ``launch_configs``, ``members``, ``activities``), and the controller that keeps each
group at its desired capacity, healthy and balanced over its zones (``controller``)."""
