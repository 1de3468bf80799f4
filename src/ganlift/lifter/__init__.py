"""The lifter: five networks and the :class:`Lifter` module that renders their outputs."""
