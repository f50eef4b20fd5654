-- Device-code phishing (SPEC §2.13): the consent page shows where a device sign-in was
-- requested from. The client address of `POST /oauth/device/code`; NULL when unknown.
ALTER TABLE device_grants ADD COLUMN requested_ip TEXT;
