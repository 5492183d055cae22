// The license service on Azure: a Flex Consumption Function App that reaches its storage,
// Key Vault and Application Insights with a user-assigned managed identity and no keys.
// `azd up` deploys this file at subscription scope with main.parameters.json.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the principal running azd. It gets Key Vault Secrets Officer (or Crypto Officer for signingKeyKind key), so that the post-provision hook can create the signing key, and Storage Table Data Contributor, so that it can import data. Empty skips both.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal in principalId: User for a person, ServicePrincipal for a deployment pipeline.')
param principalType string = 'User'

@description('LICENSING_TABLE_PREFIX: letters and digits put in front of every table name; empty for none.')
param tablePrefix string = ''

@minLength(1)
@maxLength(127)
@description('LICENSING_SIGNING_KEY_NAME: name of the Key Vault secret that holds the PEM signing key.')
param signingKeyName string = 'licensing-signing-key'

@allowed([
  'secret'
  'key'
])
@description('LICENSING_SIGNING_KEY_KIND: secret keeps a PEM private key in a Key Vault secret and signs in the app; key keeps an RSA key in Key Vault and signs there.')
param signingKeyKind string = 'secret'

@minValue(1)
@description('LICENSING_SIGNING_KEY_REFRESH_SECONDS: seconds between reads of the signing key versions from Key Vault.')
param signingKeyRefreshSeconds int = 300

@description('LICENSING_ISSUER: iss claim of every token. Empty means urn:licensing:<environmentName>.')
param issuer string = ''

@description('LICENSING_TIME_ZONE: IANA time zone in which license dates are read.')
param timeZone string = 'UTC'

@minValue(1)
@description('LICENSING_TOKEN_LIFETIME_HOURS: hours from iat to exp of every token.')
param tokenLifetimeHours int = 168

@minValue(1)
@description('LICENSING_RECHECK_HOURS: hours from iat to recheckAfter of every token.')
param recheckHours int = 24

@minValue(1)
@description('LICENSING_CATALOG_CACHE_SECONDS: lifetime of the product catalog cached by each worker.')
param catalogCacheSeconds int = 60

@minValue(0)
@description('LICENSING_RATE_LIMIT_SERIAL_PER_HOUR: validations one instance allows per serial number per hour; 0 turns the limit off.')
param rateLimitSerialPerHour int = 30

@minValue(0)
@description('LICENSING_RATE_LIMIT_CLIENT_PER_MINUTE: validations one instance allows per client address per minute; 0 turns the limit off.')
param rateLimitClientPerMinute int = 600

@description('LICENSING_CORS_ORIGINS: comma-separated browser origins allowed to call the API, such as the Power Apps maker portal.')
param corsOrigins string = 'https://make.powerapps.com,https://make.powerautomate.com'

@description('LICENSING_AUTH_TENANT_ID: Entra tenant (GUID) that issues tokens for the admin API. Empty means the tenant of this deployment once authAudience is set.')
param authTenantId string = ''

@description('LICENSING_AUTH_AUDIENCE: audiences accepted in Entra ID tokens, comma-separated: the Application ID URI and the client id of the API app registration. Empty until it is registered.')
param authAudience string = ''

@minValue(40)
@maxValue(1000)
@description('Maximum number of Flex Consumption instances; the lowest value caps the cost of a traffic spike.')
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
@description('Memory of each Flex Consumption instance in MB.')
param instanceMemoryMB int = 2048

@minValue(7)
@maxValue(90)
@description('Days that a deleted Key Vault or secret stays recoverable. Purge protection forbids an earlier purge.')
param keyVaultRetentionDays int = 90

@minValue(30)
@maxValue(730)
@description('Days that Log Analytics keeps telemetry and Key Vault audit logs.')
param logRetentionDays int = 30

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var effectiveIssuer = empty(issuer) ? 'urn:licensing:${environmentName}' : issuer
// The app rejects a tenant without an audience, so the tenant stays empty until one is set.
var effectiveAuthTenantId = empty(authTenantId) && authAudience != '' ? tenant().tenantId : authTenantId

// One resource group per azd environment, so that `azd down` removes the whole deployment.
resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

// The identity the Function App runs as, for the host and for the license code alike.
module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

// Telemetry of the host and of every validation, and the Key Vault audit log.
module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionDays: logRetentionDays
  }
}

// Host storage for the Functions runtime, the deployment package and the license tables.
module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

// The signing key, which the post-provision hook creates.
module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    retentionDays: keyVaultRetentionDays
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

// What the identity and the deploying principal may do, each on one resource.
module roles 'app/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    signingKeyKind: signingKeyKind
  }
}

// The license service itself.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  dependsOn: [
    roles
  ]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    tablePrefix: tablePrefix
    signingKeyName: signingKeyName
    signingKeyKind: signingKeyKind
    signingKeyRefreshSeconds: signingKeyRefreshSeconds
    issuer: effectiveIssuer
    timeZone: timeZone
    tokenLifetimeHours: tokenLifetimeHours
    recheckHours: recheckHours
    catalogCacheSeconds: catalogCacheSeconds
    rateLimitSerialPerHour: rateLimitSerialPerHour
    rateLimitClientPerMinute: rateLimitClientPerMinute
    corsOrigins: corsOrigins
    authTenantId: effectiveAuthTenantId
    authAudience: authAudience
    authAuthority: environment().authentication.loginEndpoint
  }
}

// azd stores these in the environment (.azure/<name>/.env) and passes them to hooks.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output LICENSING_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output LICENSING_TABLE_PREFIX string = tablePrefix
output LICENSING_KEY_VAULT_URL string = keyVault.outputs.uri
output LICENSING_SIGNING_KEY_NAME string = signingKeyName
output LICENSING_SIGNING_KEY_KIND string = signingKeyKind
output LICENSING_ISSUER string = effectiveIssuer
output LICENSING_AUTH_TENANT_ID string = effectiveAuthTenantId
output LICENSING_AUTH_AUDIENCE string = authAudience
