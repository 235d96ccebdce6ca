# An API session on a conductor for direct API calls elsewhere in the configuration;
# credentials from the provider's aruba block (or ARUBA_USERNAME / ARUBA_PASSWORD).
ephemeral "infrabackup_aruba_session" "mc1" {
  host               = "10.0.0.11"
  keepalive_interval = "2m" # the conductor's web-server session timeout is 5 minutes here
}

# Calls go to <base_url>/v1/... with ?UIDARUBA=<uidaruba> and the header
# X-CSRF-Token: <csrf_token>, for example in a provider configuration:
#
# provider "restapi" {
#   uri     = ephemeral.infrabackup_aruba_session.mc1.base_url
#   headers = { "X-CSRF-Token" = ephemeral.infrabackup_aruba_session.mc1.csrf_token }
# }
