"""The kiosk: a Kivy touchscreen till. Screens talk to the till only through `backend.Backend`,
whose one worker thread owns the database and the devices, so the screen never waits on either."""
