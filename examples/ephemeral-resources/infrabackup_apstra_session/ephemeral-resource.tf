# An Apstra API token for direct API access, as a saved aos-pyez session would be:
# the token is ephemeral and logged out when Terraform is done. Credentials from the
# provider's apstra block (or APSTRA_USER / APSTRA_PASS).
ephemeral "infrabackup_apstra_session" "dc1" {
  host = "apstra.example.net"
}

# Calls go to <base_url>/api/... with the header AuthToken: <token>, for example:
#
# provider "restapi" {
#   uri     = "${ephemeral.infrabackup_apstra_session.dc1.base_url}/api"
#   headers = { "AuthToken" = ephemeral.infrabackup_apstra_session.dc1.token }
# }
