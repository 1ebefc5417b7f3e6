package io.deployunits.kie;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.annotation.authentication.builders.AuthenticationManagerBuilder;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configuration.EnableWebSecurity;
import org.springframework.security.config.annotation.web.configuration.WebSecurityConfigurerAdapter;
import org.springframework.security.crypto.factory.PasswordEncoderFactories;
import org.springframework.security.crypto.password.PasswordEncoder;

/**
 * HTTP basic auth on /rest/*, with one user in the kie-server role.
 *
 * <p>KIE Server takes the caller's identity (process initiator, task owner) from Spring Security,
 * so the API is never open; the user comes from kie.user.name / kie.user.password (the launcher
 * passes them in the environment, which other local users cannot read, unlike the command line).
 */
@Configuration("kieServerSecurity")
@EnableWebSecurity
public class BasicAuthConfiguration extends WebSecurityConfigurerAdapter {

  @Value("${kie.user.name}")
  private String username;

  @Value("${kie.user.password}")
  private String password;

  @Override
  protected void configure(HttpSecurity http) throws Exception {
    http.csrf().disable().authorizeRequests().antMatchers("/rest/**").authenticated().and().httpBasic();
  }

  @Autowired
  public void configureGlobal(AuthenticationManagerBuilder auth) throws Exception {
    PasswordEncoder encoder = PasswordEncoderFactories.createDelegatingPasswordEncoder();
    auth.inMemoryAuthentication()
        .withUser(username)
        .password(encoder.encode(password))
        .roles("kie-server", "admin", "user");
  }
}
