# placeholder replaced below
class ARCOTuner:  # noqa
    pass
