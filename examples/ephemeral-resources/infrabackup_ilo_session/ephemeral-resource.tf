# A Redfish session on an iLO for another tool or provider: the token is ephemeral,
# never in plan or state, and the session is logged out when Terraform is done.
ephemeral "infrabackup_ilo_session" "web01" {
  host     = "web01-ilo.example.net"
  password = var.web01_ilo_password # optional: defaults to the provider's ilo.password
}

variable "web01_ilo_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Calls go to <base_url>/redfish/v1/... with the header X-Auth-Token: <x_auth_token>,
# for example in the configuration of a provider that calls REST APIs:
#
# provider "restapi" {
#   uri     = ephemeral.infrabackup_ilo_session.web01.base_url
#   headers = { "X-Auth-Token" = ephemeral.infrabackup_ilo_session.web01.x_auth_token }
# }
